"""Stream tickets: one task, about a minute, signed with a key every replica derives."""

from collections.abc import Callable

import pytest

from runyard_server.auth import TICKET_S, TokenBook
from runyard_server.config import ApiToken
from runyard_server.errors import Unauthorized

TASK, OTHER = "a" * 32, "b" * 32
TOKENS = [ApiToken(role="user", token="user-secret-1"), ApiToken(role="agent", token="agent-s-2")]


def test_a_ticket_opens_its_task_until_it_expires() -> None:
    book = TokenBook(TOKENS)
    ticket = book.stream_ticket(TASK, now=1000.0)
    book.check_stream_ticket(ticket, TASK, now=1000.0 + TICKET_S)
    with pytest.raises(Unauthorized, match="expired"):
        book.check_stream_ticket(ticket, TASK, now=1001.0 + TICKET_S)
    with pytest.raises(Unauthorized, match="not valid for this task"):
        book.check_stream_ticket(ticket, OTHER, now=1000.0)


def test_another_replica_with_the_same_tokens_accepts_it_and_changed_tokens_do_not() -> None:
    ticket = TokenBook(TOKENS).stream_ticket(TASK, now=1000.0)
    TokenBook(list(reversed(TOKENS))).check_stream_ticket(ticket, TASK, now=1000.0)
    rotated = TokenBook([ApiToken(role="user", token="user-secret-9")])
    with pytest.raises(Unauthorized):
        rotated.check_stream_ticket(ticket, TASK, now=1000.0)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(".1060.", ".9999.", 1),  # a later expiry
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # another signature
        lambda t: t.replace("rystream.", "rytask.", 1),
        lambda t: "rystream." + TASK,
        lambda t: "",
    ],
)
def test_a_changed_or_malformed_ticket_is_refused(change: Callable[[str], str]) -> None:
    book = TokenBook(TOKENS)
    ticket = book.stream_ticket(TASK, now=1000.0)
    with pytest.raises(Unauthorized):
        book.check_stream_ticket(change(ticket), TASK, now=1000.0)
