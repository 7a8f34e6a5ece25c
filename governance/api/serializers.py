from __future__ import annotations

from rest_framework import serializers

from cases.api.serializers import StrictCharField
from cases.choices import Channel

from ..models import Escalation, Scorecard, ScorecardLine


class ScorecardLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScorecardLine
        fields = list(ScorecardLine.REPORTED_FIELDS)
        read_only_fields = fields


class ScorecardSerializer(serializers.ModelSerializer):
    client = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    period = serializers.DateField(format="%Y-%m", read_only=True)
    lines = ScorecardLineSerializer(many=True, read_only=True)
    net_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = Scorecard
        fields = [
            "id",
            "client",
            "period",
            "status",
            "currency",
            "monthly_fee",
            "score_percent",
            "credit_total",
            "bonus_total",
            "earned_back_total",
            "net_total",
            "computed_at",
            "frozen_at",
            "lines",
        ]
        read_only_fields = fields


class EscalationSerializer(serializers.ModelSerializer):
    case_id = serializers.UUIDField(source="case.public_id", read_only=True)
    tier = serializers.CharField(source="tier.name", read_only=True)
    from_queue_id = serializers.IntegerField(read_only=True)
    from_tier = serializers.IntegerField(read_only=True, help_text="1 to 3.")
    to_tier = serializers.IntegerField(read_only=True, help_text="2 or 3.")

    class Meta:
        model = Escalation
        fields = [
            "id",
            "case_id",
            "sequence",
            "from_tier",
            "to_tier",
            "tier",
            "trigger",
            "status",
            "reason",
            "context_summary",
            "from_channel",
            "handoff_channel",
            "from_queue_id",
            "created_at",
            "accepted_at",
            "closed_at",
            "close_reason",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "context_summary": {
                "help_text": "The summary handed to the next tier. Staff only: it quotes the BPO's "
                "internal notes, so a client system's key gets it empty."
            }
        }

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("client_system"):
            data["context_summary"] = ""
        return data


class EscalationInputSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000, help_text="Why the case goes to a higher tier.")
    to_tier = serializers.ChoiceField(
        choices=[2, 3], required=False, help_text="Default: one tier above the case's."
    )
    handoff_channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        default="",
        allow_blank=True,
        help_text="The channel the next tier continues on.",
    )
    queue_id = serializers.IntegerField(
        required=False, help_text="Move the case to this queue of its client as it is escalated."
    )
