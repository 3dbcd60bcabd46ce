"""Documents, their versions (age-encrypted blobs) and the spaces' X25519 keys."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from networks.clearance import TLP, validate_level
from networks.models import Space


class SpaceKey(models.Model):
    """A space's X25519 key. The private half is stored only wrapped by the master key."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="keys")
    key_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    recipient = models.CharField(max_length=100)  # age1… public key
    wrapped_identity = models.BinaryField()
    master_key_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space"],
                condition=models.Q(retired_at__isnull=True),
                name="one_current_key_per_space",
            )
        ]

    def __str__(self) -> str:
        return f"key {self.key_id} of space {self.space_id}"


class Document(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), max_length=5000, blank=True)
    level = models.PositiveSmallIntegerField(_("level"), validators=[validate_level], default=0)
    tlp = models.CharField(_("TLP"), max_length=12, choices=TLP.choices, default=TLP.GREEN)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("recipients")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="documents"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        indexes = [models.Index(fields=["space", "level", "-updated_at"])]

    def __str__(self) -> str:
        return self.title


class DocumentVersion(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # The age file is stored as two objects at server-generated paths: its header (small,
    # rewritten on key rotation) and its payload (nonce + STREAM chunks, never rewritten).
    # `cat header payload` is a standard age v1 file.
    header_name = models.CharField(max_length=255, unique=True)
    payload_name = models.CharField(max_length=255, unique=True)
    filename = models.CharField(max_length=200)  # sanitised display name
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()  # plaintext bytes
    ciphertext_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)  # of the plaintext
    space_key = models.ForeignKey(SpaceKey, on_delete=models.PROTECT, related_name="versions")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="version_number_unique")
        ]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"


class UploadSession(models.Model):
    """An upload in parts: each part is a small request, so no daphne process ever holds a
    whole large body in memory. Parts are ciphertext, staged through the storage API.

    Each part is verified as it arrives; what the next request needs survives here, never
    in a process: the header and payload nonce (`prefix`, public: the payload key is
    derived again from them and the space key on every part), the count of STREAM chunks
    authenticated as non-final, the ciphertext bytes of the chunk(s) not verified yet
    (`carry`, at most one encrypted chunk), the plaintext SHA-256 state, the sniffed type.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    meta = models.JSONField(default=dict)
    filename = models.CharField(max_length=200)
    declared_size = models.PositiveBigIntegerField()
    parts_received = models.PositiveIntegerField(default=0)
    bytes_received = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # Storage names of the stored parts, in order (unique per attempt, so two concurrent
    # sends of one part never share an object).
    parts = models.JSONField(default=list)
    # False: the parts are only staged, and finishing verifies them in one pass (a header
    # that does not fit in part 0, or no resumable SHA-256 on this host).
    verify_parts = models.BooleanField(default=True)
    space_key = models.ForeignKey(
        SpaceKey, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    prefix = models.BinaryField(null=True, blank=True)  # age header + 16-byte payload nonce
    header_length = models.PositiveIntegerField(null=True, blank=True)
    chunks_verified = models.PositiveBigIntegerField(default=0)
    carry = models.BinaryField(default=b"", blank=True)
    sha256_state = models.BinaryField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    finishing = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"upload {self.pk}"

    @property
    def staging_dir(self) -> str:
        return f"staging/{self.space_id}/{self.pk}"

    def new_part_name(self, index: int) -> str:
        return f"{self.staging_dir}/{index:06d}-{uuid.uuid4().hex[:12]}.part"

    def part_names(self) -> list[str]:
        if self.parts or not self.parts_received:
            return list(self.parts)
        # A session from before `parts` existed: its parts had fixed names.
        return [f"{self.staging_dir}/{i:06d}.part" for i in range(self.parts_received)]
