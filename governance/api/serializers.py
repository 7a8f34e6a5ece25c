from __future__ import annotations

from rest_framework import serializers

from ..models import Scorecard, ScorecardLine


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
