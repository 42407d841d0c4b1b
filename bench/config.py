"""The settings of a run: counts, durations, repetitions. ``--quick`` shrinks everything."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

# What the issue asks for; the default run keeps these unless noted in SCALED.
ISSUE = {
    "drain_events": 20_000,
    "fanout_events": 5_000,
    "fanout_endpoints": 4,
    "latency_rate": 200,
    "latency_seconds": 60,
    "growth_small": 10_000,
    "growth_large": 1_000_000,
    "due_rows": 1_000,
    "connections": 32,  # the submission scenario's; end to end probes its own (see below)
}


@dataclass
class Config:
    quick: bool = False
    reps: int = 3
    # `hookrelay api` processes where the API has the machine to itself (submission, against
    # the ceiling app with as many): one per core, as uvicorn is deployed. Where workers share
    # the cores (drain, end to end, latency, growth): api_workers.
    submission_api_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    api_workers: int = 1
    connections: int = 32
    wrk_threads: int = 2
    wrk_seconds: float = 6.0
    wrk_warmup_seconds: float = 2.0
    # (2) drain: the issue's counts, unless calibration drains (hookrelay and the peer,
    # `drain_calibration` deliveries each, not counted) show that the repetitions of one shape
    # (hookrelay, peer and ceiling, set-up included) would take longer than
    # `drain_shape_budget_s`; then the count is cut to fit and the table and JSON say so.
    drain_events: int = 20_000
    fanout_events: int = 5_000
    drain_calibration: int = 2_000
    # 85 s: on a slower host the run of 2026-11-30 04:53 took 605 s at 120, the run of 09:47
    # on another 562 s at 100, and the run of 12:12 on a third 574 s at 90 (with a calibration
    # per shape, 10-15 s each there; since then one calibration serves both shapes).
    drain_shape_budget_s: float = 85.0
    drain_adaptive: bool = True
    fanout_endpoints: int = 4
    drain_timeout: float = 240.0
    ceiling_concurrencies: tuple[int, ...] = (8, 32, 64, 128, 256)
    ceiling_probe_requests: int = 4_000
    # (3) end to end
    e2e_seconds: float = 10.0
    e2e_grace_seconds: float = 20.0
    # wrk connection counts the repetitions run at, in alternation; the figure is the best
    # per-count median (see scenario_end_to_end). The ceiling app runs at each of them too.
    e2e_connections: tuple[int, ...] = (64, 128)
    # one probe at the submission scenario's count, for the table
    e2e_probe_seconds: float = 3.0
    # (4) first-attempt latency
    latency_rate: int = 200
    latency_seconds: float = 60.0
    latency_warmup_seconds: float = 3.0  # sent at the same rate just before, not measured
    latency_windows: int = 3
    # (5) growth
    growth_small: int = 10_000
    growth_large: int = 1_000_000
    due_rows: int = 1_000
    growth_calls: int = 21
    growth_wrk_seconds: float = 5.0
    only: tuple[str, ...] = ()
    scaled: dict = field(default_factory=dict)

    @classmethod
    def quick_config(cls) -> Config:
        return cls(
            quick=True,
            wrk_seconds=3.0,
            wrk_warmup_seconds=1.0,
            drain_events=1_000,
            fanout_events=250,
            drain_adaptive=False,
            drain_timeout=120.0,
            ceiling_probe_requests=1_000,
            e2e_seconds=4.0,
            e2e_grace_seconds=15.0,
            e2e_connections=(64,),
            e2e_probe_seconds=2.0,
            latency_seconds=10.0,
            growth_large=100_000,
            growth_calls=9,
            growth_wrk_seconds=3.0,
        )

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ceiling_concurrencies"] = list(self.ceiling_concurrencies)
        data["e2e_connections"] = list(self.e2e_connections)
        data["only"] = list(self.only)
        return data

    def note_scaling(self) -> None:
        """Record every count that differs from the issue's."""
        self.scaled = {
            key: {"issue": value, "this_run": getattr(self, key)}
            for key, value in ISSUE.items()
            if getattr(self, key) != value
        }

    def wants(self, scenario: str) -> bool:
        return not self.only or scenario in self.only
