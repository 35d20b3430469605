"""The console-output path shared by a local run (the SDK) and the agent.

Producers hand lines to a :class:`~runyard.logship.spool.Spool`, which encodes each
line once, as the JSON the server measures, and cuts them into batches that fit the
server's limits (:mod:`runyard.logship.wire`). Batches wait in memory, past a memory
budget on local disk, and past a disk quota they are dropped and counted. A
:class:`~runyard.logship.sender.Sender` thread posts them in order, each with its
``seq``, retrying a batch with the same ``seq`` until the server has it.
"""

from runyard.logship.sender import Sender
from runyard.logship.spool import Spool, SpoolSettings
from runyard.logship.wire import Chunk, encode_line

__all__ = ["Chunk", "Sender", "Spool", "SpoolSettings", "encode_line"]
