"""The client's errors: etcd's gRPC code and message, typed by code, plus the failures that
happen before a server answers (unreachable, deadline).

Theory of operation: every answer that carries an error (gateway JSON `{"error","message",
"code"}`, a gateway stream error `{"error":{"grpc_code",...}}`, a native `{"error":{"code",
"message"}}`) becomes `from_code(code, message)`, an instance of the subclass for that code, so
callers catch what they mean (`except NotFound`) and still see etcd's exact text. Errors from
the network are `Unavailable` subclasses, because that is how a gRPC client reports them.
"""
from __future__ import annotations

from petcd.common.errors import Code


class ClientError(Exception):
    """An etcd error: `code` (gRPC status code) and `message` (etcd's text)."""

    code = Code.UNKNOWN

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = Code(code) if code in Code._value2member_map_ else code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={int(self.code)}, message={self.message!r})"


class Canceled(ClientError): code = Code.CANCELED
class Unknown(ClientError): code = Code.UNKNOWN
class InvalidArgument(ClientError): code = Code.INVALID_ARGUMENT
class DeadlineExceeded(ClientError): code = Code.DEADLINE_EXCEEDED
class NotFound(ClientError): code = Code.NOT_FOUND
class AlreadyExists(ClientError): code = Code.ALREADY_EXISTS
class PermissionDenied(ClientError): code = Code.PERMISSION_DENIED
class ResourceExhausted(ClientError): code = Code.RESOURCE_EXHAUSTED
class FailedPrecondition(ClientError): code = Code.FAILED_PRECONDITION
class Aborted(ClientError): code = Code.ABORTED
class OutOfRange(ClientError): code = Code.OUT_OF_RANGE
class Unimplemented(ClientError): code = Code.UNIMPLEMENTED
class Internal(ClientError): code = Code.INTERNAL
class Unavailable(ClientError): code = Code.UNAVAILABLE
class DataLoss(ClientError): code = Code.DATA_LOSS
class Unauthenticated(ClientError): code = Code.UNAUTHENTICATED


class Unreachable(Unavailable):
    """No endpoint could be reached (connection refused, reset, or no answer in time)."""


class WatchCompacted(OutOfRange):
    """A watch asked for history that compaction removed; `compact_revision` is where the
    history now starts (resume from there after re-reading the state)."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"etcdserver: mvcc: required revision has been compacted "
                         f"(compact revision {compact_revision})")
        self.compact_revision = compact_revision


class WatchCanceled(ClientError):
    """The server canceled a watch for a reason other than compaction."""


_BY_CODE = {cls.code: cls for cls in (
    Canceled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists,
    PermissionDenied, ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented,
    Internal, Unavailable, DataLoss, Unauthenticated)}


def from_code(code: int, message: str) -> ClientError:
    return _BY_CODE.get(code, ClientError)(message, code)


def from_answer(doc: object) -> ClientError | None:
    """The error in a decoded answer (any of the three shapes), or None."""
    if not isinstance(doc, dict) or "error" not in doc:
        return None
    err = doc["error"]
    if isinstance(err, dict):  # gateway stream error, or native error
        code = err.get("grpc_code", err.get("code", Code.UNKNOWN))
        return from_code(int(code), str(err.get("message", "")))
    return from_code(int(doc.get("code", Code.UNKNOWN)), str(doc.get("message", err)))
