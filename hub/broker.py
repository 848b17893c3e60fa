"""The embedded broker: kombu's filesystem transport, with each message written whole before it is seen.

Kombu writes a message straight under its final `.msg` name, so a worker polling the folder can take
the file while it is still empty and die on it (`Unrecoverable error: JSONDecodeError`, seen under the
fault matrix's load). Here the message is written under a name the reader skips, then renamed: a
rename within one folder is atomic."""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # read as queue "<queue>.msg.part": never taken by `_get`
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
