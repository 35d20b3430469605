"""Where the agent's installers get packages: indexes and find-links owned by its operator.

A task never names a URL or an installer option; it may only ask for one of the
agent's named indexes (``environment.package_index``). Index URLs may carry
credentials (``https://user:token@host/simple``). They are held as :class:`SecretUrl`,
reach uv and pip through environment variables (not argv, which ``ps`` shows), and
every line the agent writes about a build goes through :meth:`PackageSources.redact`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import Field, SecretStr

from runyard_agent.errors import EnvironmentBuildError

if TYPE_CHECKING:
    from runyard_agent.config import AgentSettings

DEFAULT_TORCH_INDEX = "https://download.pytorch.org/whl/{backend}"

TorchBackend = Annotated[str, Field(pattern=r"^(auto|cpu|cu\d{2,3})$")]
"""``auto`` (from the machine), ``cpu``, or a CUDA build tag such as ``cu121``."""

Log = Callable[[str], None]
_MASK = "****"


class SecretUrl(SecretStr):
    """A URL or path that may hold ``user:password@``; shown with the credentials masked."""

    def _display(self) -> str:
        return redact_url(self.get_secret_value())


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``****@``."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=f"{_MASK}@{parts.netloc.rpartition('@')[2]}"))
    return url


def _credentials(url: str) -> list[str]:
    """The secret strings in ``url``: its user-info, as written and percent-decoded."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    secrets = {userinfo, unquote(userinfo)}
    password = userinfo.partition(":")[2]
    # A password alone is masked too (an installer may print it apart from the user).
    secrets.update(s for s in (password, unquote(password)) if len(s) >= 4)
    return sorted(secrets, key=len, reverse=True)


@dataclass(frozen=True)
class PackageSources:
    """The operator's package sources for one build, and the task's chosen index."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    torch_index_url: str = DEFAULT_TORCH_INDEX
    known_secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def for_task(cls, settings: AgentSettings, wanted: str | None) -> PackageSources:
        """The agent's sources for a task asking for index ``wanted`` (see :meth:`build`)."""
        return cls.build(
            index_url=settings.index_url,
            extra_index_urls=settings.extra_index_urls,
            find_links=settings.find_links,
            named=settings.indexes,
            wanted=wanted,
            torch_index_url=settings.torch_index_url,
        )

    @classmethod
    def build(
        cls,
        *,
        index_url: SecretUrl | None,
        extra_index_urls: Iterable[SecretUrl],
        find_links: Iterable[SecretUrl],
        named: dict[str, SecretUrl],
        wanted: str | None,
        torch_index_url: SecretUrl,
    ) -> PackageSources:
        """Sources for a task asking for index ``wanted`` (None: the defaults).

        Raises EnvironmentBuildError (stage ``install``) naming the agent's indexes when
        ``wanted`` is not one of them.
        """
        every = [*named.values(), *extra_index_urls, *find_links, torch_index_url]
        if index_url is not None:
            every.append(index_url)
        secrets = [s for url in every for s in _credentials(url.get_secret_value())]
        extra = []
        if wanted is not None:
            if wanted not in named:
                known = ", ".join(sorted(named)) or "none"
                raise EnvironmentBuildError(
                    "install",
                    f"package index {wanted!r} is not one this agent knows (its indexes: "
                    f"{known}); ask the agent's operator to add it, or run on another queue",
                )
            extra.append(named[wanted].get_secret_value())
        extra += [url.get_secret_value() for url in extra_index_urls]
        return cls(
            index_url=index_url.get_secret_value() if index_url is not None else None,
            extra_index_urls=tuple(dict.fromkeys(extra)),
            find_links=tuple(link.get_secret_value() for link in find_links),
            torch_index_url=torch_index_url.get_secret_value(),
            known_secrets=tuple(dict.fromkeys(secrets)),
        )

    def torch_index(self, backend: str) -> str:
        """The index holding PyTorch's ``backend`` builds (``cpu``, ``cu121``...)."""
        return self.torch_index_url.replace("{backend}", backend)

    def with_torch(self, backends: list[str]) -> PackageSources:
        """These sources with the indexes of PyTorch's ``backends`` builds searched first."""
        if not backends:
            return self
        first = [self.torch_index(backend) for backend in backends]
        return replace(
            self, extra_index_urls=tuple(dict.fromkeys([*first, *self.extra_index_urls]))
        )

    def installer_env(self, tool: Literal["uv", "pip"]) -> dict[str, str]:
        """Environment variables that point ``tool`` at these sources.

        Indexes listed in ``extra_index_urls`` are searched first, in order, then
        ``index_url`` (uv's ``first-index`` strategy: a package comes from the first index
        that has it, so a private package cannot be shadowed by a public one).
        """
        env: dict[str, str] = {}
        if tool == "uv":
            names = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS")
        else:
            names = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
        if self.index_url is not None:
            env[names[0]] = self.index_url
        if self.extra_index_urls:
            env[names[1]] = " ".join(self.extra_index_urls)
        if self.find_links:
            env[names[2]] = ("," if tool == "uv" else " ").join(self.find_links)
        return env

    def redact(self, text: str) -> str:
        """``text`` with every credential of these sources masked."""
        for secret in self.known_secrets:
            text = text.replace(secret, _MASK)
        return text

    def redacting(self, log: Log) -> Log:
        """``log`` with :meth:`redact` applied to each line."""
        return lambda line: log(self.redact(line))

    def describe(self) -> str:
        """One line naming the indexes, credentials masked (for the task log)."""
        shown = [*self.extra_index_urls, self.index_url or "the installer's default"]
        text = "indexes: " + ", ".join(redact_url(url) for url in shown)
        if self.find_links:
            text += "; find-links: " + ", ".join(redact_url(link) for link in self.find_links)
        return self.redact(text)
