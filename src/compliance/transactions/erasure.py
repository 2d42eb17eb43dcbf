"""What the screener does with a payment of an erased data subject.

A payment whose account (its data subject) or whose account's owner was erased by
``compliance gdpr erase`` is not screened, as a document of an erased subject is not
classified or checked (``compliance.erased_subjects``): it gets one ``subject_erased``
exception for an officer, naming only the ids (its reason and details are written as
``[erased]``), no check result, and the account's history in the screener's state is
forgotten, so nothing derived from the subject's payments is kept there any longer.
"""

from __future__ import annotations

from compliance.codec import Record
from compliance.erased_subjects import erased_subject_exception
from compliance.outgoing import Outgoing
from compliance.transactions.account import AccountState
from compliance.transactions.events import STAGE


def refused(record: Record, account: AccountState) -> list[Outgoing]:
    """The exception for the payment of an erased subject; ``account`` emptied in place."""
    account.entries.clear()
    account.days.clear()
    account.alerted.clear()
    account.first_ms = None
    account.pseudonymised = False
    return [erased_subject_exception(record, STAGE)]
