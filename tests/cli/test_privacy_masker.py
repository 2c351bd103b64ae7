"""The masker hides e-mails and phones, and nothing a person needs to read an error."""

from __future__ import annotations

import pytest

from clientela.privacy import mask_text


@pytest.mark.parametrize("text", [
    "end 2025-01-01 00:00 is not after start 2025-01-01 00:00",
    "cannot read '12:30' as a date",
    "cannot read '2025-03-04T10:15:30' as a date",
    "cannot read '2025-03-04T10:15:30.123456+00:00' as a date",
    "ordered_at 1997-01-01 00:00:00 is before 1900-01-01",
    "cannot read '31/12/2024' as a date",
    "total 2163973.08 does not equal the lines' 2163973.07",
    "amount 1,234,567.89 is too large",
    "valor R$ 1.234.567,89 inválido",
    "order 1001234567 has no lines",
    "order #10012345 has no lines",
    "order ord-2025-000123 is duplicated",
    "customer 00012345-6789 was merged",
    "uuid 3f2b8c1e-1234-5678-9abc-def012345678 not found",
    "run 20250101-1234 failed",
    "period 2025-01 to 2025-12",
    "between 19970101 and 19980630",
])
def test_never_masks_dates_times_amounts_or_ids(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize(("text", "masked"), [
    ("call +55 11 98765-4321 now", "call ***21 now"),
    ("call +1 (555) 123-4567 now", "call ***67 now"),
    ("phone (11) 98765-4321 rejected", "phone ***21 rejected"),
    ("phone 11 98765-4321 rejected", "phone ***21 rejected"),
    ("number 555-123-4567 rejected", "number ***67 rejected"),
    ("phone: '11987654321' is not valid", "phone: '***21' is not valid"),
    ("whatsapp 5511987654321", "whatsapp ***21"),
    ("maria.silva@example.com bounced", "m***@e***.com bounced"),
    ("zé@example.com bounced", "z***@e***.com bounced"),
    ("joão_silva@exâmple.com.br bounced", "j***@e***.br bounced"),
    ("to <o'neil+crm@mail.example.org>: refused", "to <o***@m***.org>: refused"),
    ("ÉLODIE@FOURNISSEUR.FR", "É***@F***.FR"),
    ("e-mail 'ana@example.com' is invalid", "e-mail 'a***@e***.com' is invalid"),
])
def test_masks_emails_and_phones(text: str, masked: str) -> None:
    assert mask_text(text) == masked
