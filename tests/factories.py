"""factory_boy factories; they build data the way the services would."""

from __future__ import annotations

from datetime import timedelta

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from networks.models import Invitation, Network, Role, Space
from workspace.accounts.models import User
from workspace.accounts.totp import totp_activate

PASSWORD = "correct-horse-battery-staple"  # noqa: S105


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@agency.example")
    display_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(obj, create, extracted, **kwargs):  # noqa: N805
        if create and extracted is not False:
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)
        obj.save()

    @factory.post_generation
    def mfa(obj, create, extracted, **kwargs):  # noqa: N805
        """`UserFactory(mfa=True)` gives a TOTP authenticator; its secret is `obj.totp_secret`."""
        obj.totp_secret = totp_activate(user=obj) if create and extracted else None


class NetworkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Network

    name = factory.Sequence(lambda n: f"Network {n}")
    slug = factory.Sequence(lambda n: f"network-{n}")


class SpaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Space

    network = factory.SubFactory(NetworkFactory)
    name = factory.Sequence(lambda n: f"Space {n}")
    slug = factory.Sequence(lambda n: f"space-{n}")


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    space = factory.SubFactory(SpaceFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@agency.example")
    role = Role.MEMBER
    clearance = 1
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
