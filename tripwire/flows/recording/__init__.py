"""What the recorder keeps of the hot path's events, as pure code: the storage rules
(``rules``), the candle roll-up (``candles``), the batch of pending writes and how it is
written (``batch``), and the thresholds (``config``). The process around them is
tripwire/flows/recorder.py."""

from tripwire.flows.recording.batch import Batch, WriteResult, write_batch
from tripwire.flows.recording.candles import INTERVAL_MS, CandleAggregator
from tripwire.flows.recording.config import RecorderConfig, recorder_config
from tripwire.flows.recording.rules import TOPIC_PREFIXES, Rules

__all__ = [
    "INTERVAL_MS",
    "TOPIC_PREFIXES",
    "Batch",
    "CandleAggregator",
    "RecorderConfig",
    "Rules",
    "WriteResult",
    "recorder_config",
    "write_batch",
]
