"""etcd's errors: a gRPC status code plus etcd's exact message, and their HTTP status.

Every error a client can see is built here, so that HTTP, ZeroMQ (and later gRPC) report the
same code and text (reference/etcd-api.md sections 3.2 and 3.3). The HTTP status is derived
from the gRPC code in one table, as grpc-gateway's HTTPStatusFromCode does.
"""
from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """gRPC status codes."""
    OK = 0
    CANCELED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# grpc-gateway v1's HTTPStatusFromCode as observed on etcd 3.4.23 from Debian (its gateway maps
# FAILED_PRECONDITION to 412; upstream's pinned gateway says 400: see etcd-api.md 3.2).
HTTP_STATUS = {
    Code.OK: 200, Code.CANCELED: 408, Code.UNKNOWN: 500, Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504, Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403, Code.RESOURCE_EXHAUSTED: 429, Code.FAILED_PRECONDITION: 412,
    Code.ABORTED: 409, Code.OUT_OF_RANGE: 400, Code.UNIMPLEMENTED: 501, Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503, Code.DATA_LOSS: 500, Code.UNAUTHENTICATED: 401,
}


class EtcdError(Exception):
    """An error with etcd's gRPC code and message; what every client-visible failure is."""

    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code = Code(code)
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, EtcdError) and other.code == self.code
                and other.message == self.message)

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def __repr__(self) -> str:
        return f"EtcdError({self.code.name}, {self.message!r})"


def _e(code: Code, message: str) -> EtcdError:
    return EtcdError(code, message)


# The catalogue (etcdserver/api/v3rpc/rpctypes/error.go in etcd 3.4). Raise copies, never
# mutate these.
ErrEmptyKey = _e(Code.INVALID_ARGUMENT, "etcdserver: key is not provided")
ErrKeyNotFound = _e(Code.INVALID_ARGUMENT, "etcdserver: key not found")
ErrValueProvided = _e(Code.INVALID_ARGUMENT, "etcdserver: value is provided")
ErrLeaseProvided = _e(Code.INVALID_ARGUMENT, "etcdserver: lease is provided")
ErrTooManyOps = _e(Code.INVALID_ARGUMENT, "etcdserver: too many operations in txn request")
ErrDuplicateKey = _e(Code.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request")
ErrCompacted = _e(Code.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted")
ErrFutureRev = _e(Code.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")
ErrNoSpace = _e(Code.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded")
ErrLeaseNotFound = _e(Code.NOT_FOUND, "etcdserver: requested lease not found")
ErrLeaseExist = _e(Code.FAILED_PRECONDITION, "etcdserver: lease already exists")
ErrLeaseTTLTooLarge = _e(Code.OUT_OF_RANGE, "etcdserver: too large lease TTL")
ErrRequestTooLarge = _e(Code.INVALID_ARGUMENT, "etcdserver: request is too large")
ErrTooManyRequests = _e(Code.RESOURCE_EXHAUSTED, "etcdserver: too many requests")
ErrNoLeader = _e(Code.UNAVAILABLE, "etcdserver: no leader")
ErrNotLeader = _e(Code.FAILED_PRECONDITION, "etcdserver: not leader")
ErrLeaderChanged = _e(Code.UNAVAILABLE, "etcdserver: leader changed")
ErrStopped = _e(Code.UNAVAILABLE, "etcdserver: server stopped")
ErrTimeout = _e(Code.UNAVAILABLE, "etcdserver: request timed out")
ErrTimeoutDueToLeaderFail = _e(
    Code.UNAVAILABLE, "etcdserver: request timed out, possibly due to previous leader failure")
ErrTimeoutDueToConnectionLost = _e(
    Code.UNAVAILABLE, "etcdserver: request timed out, possibly due to connection lost")
ErrUnhealthy = _e(Code.UNAVAILABLE, "etcdserver: unhealthy cluster")
ErrCorrupt = _e(Code.DATA_LOSS, "etcdserver: corrupt cluster")
ErrBadLeaderTransferee = _e(Code.FAILED_PRECONDITION, "etcdserver: bad leader transferee")
ErrTimeoutLeaderTransfer = _e(
    Code.UNAVAILABLE, "etcdserver: request timed out, leader transfer took too long")
ErrNotCapable = _e(Code.UNAVAILABLE, "etcdserver: rpc not supported for learner")
ErrMemberExist = _e(Code.FAILED_PRECONDITION, "etcdserver: member ID already exist")
ErrPeerURLExist = _e(Code.FAILED_PRECONDITION, "etcdserver: Peer URLs already exists")
# etcd 3.4's gRPC layer does not map this one to its status (rpctypes has it, unused): it
# reaches clients as Unknown, HTTP 500 [obs].
ErrMemberNotEnoughStarted = _e(
    Code.UNKNOWN, "etcdserver: re-configuration failed due to not enough started members")
ErrMemberBadURLs = _e(Code.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid")
ErrMemberNotFound = _e(Code.NOT_FOUND, "etcdserver: member not found")
ErrMemberNotLearner = _e(Code.FAILED_PRECONDITION, "etcdserver: can only promote a learner member")
ErrLearnerNotReady = _e(
    Code.FAILED_PRECONDITION,
    "etcdserver: can only promote a learner member which is in sync with leader")
ErrTooManyLearners = _e(Code.FAILED_PRECONDITION, "etcdserver: too many learner members in cluster")
ErrDeadlineExceeded = _e(Code.UNKNOWN, "context deadline exceeded")

# Auth (etcd 3.4's rpctypes for the auth package's errors; reference/etcd-api.md 1.6).
ErrUserEmpty = _e(Code.INVALID_ARGUMENT, "etcdserver: user name is empty")
ErrRoleEmpty = _e(Code.INVALID_ARGUMENT, "etcdserver: role name is empty")
ErrUserAlreadyExist = _e(Code.FAILED_PRECONDITION, "etcdserver: user name already exists")
ErrUserNotFound = _e(Code.FAILED_PRECONDITION, "etcdserver: user name not found")
ErrRoleAlreadyExist = _e(Code.FAILED_PRECONDITION, "etcdserver: role name already exists")
ErrRoleNotFound = _e(Code.FAILED_PRECONDITION, "etcdserver: role name not found")
ErrRoleNotGranted = _e(Code.FAILED_PRECONDITION, "etcdserver: role is not granted to the user")
ErrPermissionNotGranted = _e(Code.FAILED_PRECONDITION,
                             "etcdserver: permission is not granted to the role")
ErrAuthNotEnabled = _e(Code.FAILED_PRECONDITION, "etcdserver: authentication is not enabled")
ErrRootUserNotExist = _e(Code.FAILED_PRECONDITION, "etcdserver: root user does not exist")
ErrRootRoleNotExist = _e(Code.FAILED_PRECONDITION, "etcdserver: root user does not have root role")
ErrAuthFailed = _e(Code.INVALID_ARGUMENT,
                   "etcdserver: authentication failed, invalid user ID or password")
ErrPermissionDenied = _e(Code.PERMISSION_DENIED, "etcdserver: permission denied")
ErrInvalidAuthToken = _e(Code.UNAUTHENTICATED, "etcdserver: invalid auth token")
ErrInvalidAuthMgmt = _e(Code.INVALID_ARGUMENT, "etcdserver: invalid auth management")
ErrAuthOldRevision = _e(Code.INVALID_ARGUMENT, "etcdserver: revision of auth store is old")
# etcd 3.4.23 crashes on a RoleGrantPermission without a permission; 3.5's answer.
ErrPermissionNotGiven = _e(Code.INVALID_ARGUMENT, "etcdserver: permission not given")
# Not mapped to an rpctypes error by etcd 3.4, so they reach clients as Unknown with the auth
# package's own text: Authenticate of a user without password, and the Maintenance RPCs that
# need root (Hash, HashKV, Defragment, Snapshot) [obs].
ErrNoPasswordUser = _e(Code.UNKNOWN,
                       "auth: authentication failed, password was given for no password user")
RAW_AUTH_ERRORS = {
    ErrUserEmpty: _e(Code.UNKNOWN, "auth: user name is empty"),
    ErrPermissionDenied: _e(Code.UNKNOWN, "auth: permission denied"),
    ErrInvalidAuthToken: _e(Code.UNKNOWN, "auth: invalid auth token"),
    ErrAuthOldRevision: _e(Code.UNKNOWN, "auth: revision in header is old"),
}
