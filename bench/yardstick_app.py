"""The yardstick's endpoint: a bare DRF create (a ModelSerializer over Django's auth Group, no
authentication, permission or throttle), served with Accord's settings and middleware. Its URLs
are the whole URLconf of `yardstick_settings`; bench_yardstick.py measures it."""

from django.contrib.auth.models import Group
from django.urls import path
from rest_framework import generics, permissions, serializers


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name"]


class GroupCreate(generics.CreateAPIView):
    serializer_class = GroupSerializer
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []


urlpatterns = [path("yardstick/groups", GroupCreate.as_view())]
