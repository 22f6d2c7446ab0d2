"""What the recorder keeps of the hot path's events, as pure code: the storage rules
(``rules``), the candle roll-up (``candles``), the batch of pending writes and how it is
written (``batch``), and the thresholds (``config``). The process around them is
flows/recorder.py."""

from flows.recording.batch import Batch, WriteResult, write_batch
from flows.recording.candles import INTERVAL_MS, CandleAggregator
from flows.recording.config import RecorderConfig, recorder_config
from flows.recording.rules import TOPIC_PREFIXES, Rules

__all__ = ["Batch", "WriteResult", "write_batch", "INTERVAL_MS", "CandleAggregator",
           "RecorderConfig", "recorder_config", "TOPIC_PREFIXES", "Rules"]
