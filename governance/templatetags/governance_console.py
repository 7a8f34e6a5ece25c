"""`{% governance_attention as attention %}`: what needs attention today for the request's user
(see `governance.selectors.attention_today`), for the governance console page."""

from django import template
from django.utils import timezone

from ..selectors import attention_today

register = template.Library()


@register.simple_tag(takes_context=True)
def governance_attention(context):
    request = context.get("request")
    if request is None or not getattr(request.user, "is_authenticated", False):
        return None
    return attention_today(user=request.user, now=timezone.now())
