"""Which GPUs are NVLink peers, as NVML tells it.

Two ways, joined, because each alone misses a common machine:

- walking each GPU's NVLink links (``nvmlDeviceGetNvLinkState``, then
  ``nvmlDeviceGetNvLinkRemotePciInfo``) and matching the far end's PCI address to a
  GPU: finds GPUs bridged directly (NVLink bridges, DGX-1/HGX hybrid cube mesh), but on
  an NVSwitch machine (DGX/HGX A100, H100) the far end of every link is a switch;
- ``nvmlDeviceGetP2PStatus`` over NVLink for each pair: OK through a switch too, but
  older drivers do not answer it.

A GPU without NVLink answers "not supported" on its first link; that ends its walk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)

# nvidia-ml-py 12 says 18 links, 13+ says 36; a module too old to say gets the smaller.
_DEFAULT_MAX_LINKS = 18

PciAddress = tuple[int, int, int, int]
"""(domain, bus, device, function)."""


def nvlink_peers(nvml: Any, handles: Sequence[Any]) -> list[list[int]]:
    """For each GPU (by position in ``handles``), the indices of its NVLink peers, sorted."""
    by_address: dict[PciAddress, int] = {}
    for index, handle in enumerate(handles):
        address = pci_address(nvml.nvmlDeviceGetPciInfo(handle))
        if address is not None:
            by_address[address] = index
    peers: list[set[int]] = [set() for _ in handles]
    for index, handle in enumerate(handles):
        for far in _linked_addresses(nvml, handle):
            other = by_address.get(far)
            if other is not None and other != index:
                peers[index].add(other)
                peers[other].add(index)
        for other in range(index + 1, len(handles)):
            if _p2p_over_nvlink(nvml, handle, handles[other]):
                peers[index].add(other)
                peers[other].add(index)
    return [sorted(found) for found in peers]


def _linked_addresses(nvml: Any, handle: Any) -> Iterator[PciAddress]:
    """The PCI addresses at the far ends of the GPU's active NVLink links."""
    for link in range(getattr(nvml, "NVML_NVLINK_MAX_LINKS", _DEFAULT_MAX_LINKS)):
        try:
            active = nvml.nvmlDeviceGetNvLinkState(handle, link)
        except nvml.NVMLError:
            return  # no NVLink at all, or past the GPU's last link
        if active != nvml.NVML_FEATURE_ENABLED:
            continue
        try:
            address = pci_address(nvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link))
        except nvml.NVMLError as exc:
            log.debug("NVLink %d: far end unknown: %s", link, exc)
            continue
        if address is not None:
            yield address


def _p2p_over_nvlink(nvml: Any, first: Any, second: Any) -> bool:
    query = getattr(nvml, "nvmlDeviceGetP2PStatus", None)
    if query is None:
        return False
    try:
        status = query(first, second, nvml.NVML_P2P_CAPS_INDEX_NVLINK)
    except nvml.NVMLError:
        return False
    return bool(status == nvml.NVML_P2P_STATUS_OK)


def pci_address(info: Any) -> PciAddress | None:
    """The (domain, bus, device, function) of an ``nvmlPciInfo_t``, from its ``busId``
    (``00000000:07:00.0``; the legacy field has a 4-digit domain); None when unreadable."""
    for field in ("busId", "busIdLegacy"):
        text = getattr(info, field, b"")
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        domain, _, rest = text.strip().rpartition(":")
        domain, _, bus = domain.rpartition(":")
        device, _, function = rest.partition(".")
        try:
            return int(domain or "0", 16), int(bus, 16), int(device, 16), int(function or "0", 16)
        except ValueError:
            continue
    return None
