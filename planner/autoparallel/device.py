"""The device model (a roofline GPU plus its interconnect) and the time of
the collectives the cost model uses.

Collectives over ``n`` devices of one node (bandwidth ``bw``, per-message
latency ``alpha`` = ``intra_latency_s``), ``B`` in bytes:

- all-reduce (ring): ``2 (n - 1) alpha + 2 (n - 1) / n * B / bw``, ``B`` the
  size of the reduced buffer;
- all-gather (ring): ``(n - 1) alpha + (n - 1) / n * B / bw``, ``B`` the size
  of the gathered (full) buffer;
- all-to-all (pairwise exchange): ``(n - 1) alpha + (n - 1) / n * B / bw``,
  ``B`` the size of each device's send buffer.

All three are 0 for ``n = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

DEFAULT_MEM_BUDGET_BYTES = 20 * 10**9
"""The per-device memory budget of the evaluation (20 GB), separate from the
physical memory of the device model."""


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class DeviceModel:
    """A GPU as the cost model sees it. Defaults describe a V100-class GPU
    (fp16 tensor cores, HBM2, NVLink inside a node of 8, 100 Gb/s between
    nodes)."""

    peak_flops: float = field(
        default=125e12, metadata=_help("peak dense fp16 FLOP/s of one device")
    )
    efficiency: float = field(
        default=0.5, metadata=_help("fraction of peak_flops that matrix multiplies reach")
    )
    mem_bw_bytes_per_s: float = field(
        default=900e9, metadata=_help("device memory (HBM) bandwidth, bytes/s")
    )
    intra_bw_bytes_per_s: float = field(
        default=150e9, metadata=_help("per-device interconnect bandwidth inside a node, bytes/s")
    )
    intra_latency_s: float = field(
        default=2e-6, metadata=_help("latency of one message between devices of a node, s")
    )
    inter_bw_bytes_per_s: float = field(
        default=12.5e9, metadata=_help("per-device network bandwidth between nodes, bytes/s")
    )
    inter_latency_s: float = field(
        default=10e-6, metadata=_help("latency of one message between nodes, s")
    )
    devices_per_node: int = field(
        default=8, metadata=_help("devices sharing one node's interconnect")
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{f.name}: must be a number, got {value!r}")
            latency = f.name.endswith("latency_s")
            if value < 0 or (value == 0 and not latency):
                bound = ">= 0" if latency else "> 0"
                raise ValueError(f"{f.name}: must be {bound}, got {value!r}")
        if not 0 < self.efficiency <= 1:
            raise ValueError(f"efficiency: must be in (0, 1], got {self.efficiency!r}")
        if not isinstance(self.devices_per_node, int):
            raise ValueError(f"devices_per_node: must be an integer, got {self.devices_per_node!r}")

    @property
    def flops_per_s(self) -> float:
        """Achievable FLOP/s: ``peak_flops * efficiency``."""
        return self.peak_flops * self.efficiency

    def all_reduce_s(self, nbytes: float, n: int) -> float:
        """Ring all-reduce of a ``nbytes`` buffer over ``n`` devices of a node."""
        if n <= 1:
            return 0.0
        return (
            2 * (n - 1) * self.intra_latency_s
            + 2 * (n - 1) / n * nbytes / self.intra_bw_bytes_per_s
        )

    def all_gather_s(self, nbytes: float, n: int) -> float:
        """Ring all-gather into a ``nbytes`` buffer over ``n`` devices of a node."""
        if n <= 1:
            return 0.0
        return (n - 1) * self.intra_latency_s + (n - 1) / n * nbytes / self.intra_bw_bytes_per_s

    def all_to_all_s(self, nbytes: float, n: int) -> float:
        """Pairwise all-to-all of a ``nbytes`` send buffer per device over
        ``n`` devices of a node (each device keeps ``1/n`` of it)."""
        return self.all_gather_s(nbytes, n)

    def send_s(self, nbytes: float, inter_node: bool) -> float:
        """Point-to-point transfer of ``nbytes`` (a pipeline hand-off)."""
        if inter_node:
            return self.inter_latency_s + nbytes / self.inter_bw_bytes_per_s
        return self.intra_latency_s + nbytes / self.intra_bw_bytes_per_s
