"""etcd's protocol files, and the Python modules generated from them.

The .proto files beside this module are etcd 3.4.23's (Apache-2.0; see NOTICE at the top of the
repo), with what only Go needs taken out: the gogoproto options and imports, and the
`google.api.http` annotations (the HTTP gateway is our own code, stages/api/http/). Package,
message, field and service names are untouched, so the wire format and the gRPC paths
(`/etcdserverpb.KV/Range`) are etcd's. Imports are rewritten to paths under `petcd/common/proto/`
so that the generated modules import each other inside the petcd package.

    python -m petcd.common.proto.generate --from-etcd /usr/share/gocode/src/go.etcd.io/etcd
        takes the files again from etcd's source tree (Debian's golang-etcd-server-dev) and strips
        them; then generates.
    python -m petcd.common.proto.generate
        generates the *_pb2.py (protobuf) and *_grpc.py (grpclib service bases) modules with
        grpcio-tools.

The generated modules are checked in; tests/unit/test_proto_generated.py fails when they are
stale against the .proto files.
"""
from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
IMPORT_ROOT = "petcd/common/proto"

# Our file name: (path in etcd's source tree, what its imports are rewritten to)
SOURCES = {
    "kv.proto": "mvcc/mvccpb/kv.proto",
    "auth.proto": "auth/authpb/auth.proto",
    "rpc.proto": "etcdserver/etcdserverpb/rpc.proto",
    "v3lock.proto": "etcdserver/api/v3lock/v3lockpb/v3lock.proto",
    "v3election.proto": "etcdserver/api/v3election/v3electionpb/v3election.proto",
}
_IMPORTS = {
    '"etcd/mvcc/mvccpb/kv.proto"': f'"{IMPORT_ROOT}/kv.proto"',
    '"etcd/auth/authpb/auth.proto"': f'"{IMPORT_ROOT}/auth.proto"',
    '"etcd/etcdserver/etcdserverpb/rpc.proto"': f'"{IMPORT_ROOT}/rpc.proto"',
}


def strip(text: str) -> str:
    """etcd's .proto text without gogoproto and google.api.http, imports under IMPORT_ROOT."""
    text = re.sub(r'^import "(gogoproto/gogo|google/api/annotations)\.proto";\n', "", text,
                  flags=re.M)
    text = re.sub(r"^// for grpc-gateway\n", "", text, flags=re.M)
    text = re.sub(r"^option \(gogoproto\.[a-z_]+\) = (true|false);\n", "", text, flags=re.M)
    # field options: [(gogoproto.nullable) = false, ...]
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    # an rpc's body that holds only its HTTP mapping: `{ option (google.api.http) = {...}; }`
    # (with at most one level of `additional_bindings { ... }` inside)
    text = re.sub(r"\)\s*\{\s*option \(google\.api\.http\) = \{(?:[^{}]|\{[^{}]*\})*\};\s*\}",
                  ");", text)
    for old, new in _IMPORTS.items():
        text = text.replace(f"import {old};", f"import {new};")
    text = re.sub(r"\n{3,}", "\n\n", text)
    if "gogoproto" in text or "google.api" in text:
        raise ValueError("an annotation was left in: the stripping rules need a look")
    return text


def take_from_etcd(etcd_root: pathlib.Path) -> None:
    for ours, theirs in SOURCES.items():
        (HERE / ours).write_text(strip((etcd_root / theirs).read_text()))


def generated() -> dict[str, bytes]:
    """File name -> contents of every module grpcio-tools makes from the .proto files here."""
    plugin = shutil.which("protoc-gen-grpclib_python",
                          path=str(pathlib.Path(sys.executable).parent))
    if plugin is None:
        raise RuntimeError("protoc-gen-grpclib_python (grpclib) is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp, "src")
        out = pathlib.Path(tmp, "out")
        (src / IMPORT_ROOT).mkdir(parents=True)
        out.mkdir()
        for name in SOURCES:
            shutil.copy(HERE / name, src / IMPORT_ROOT / name)
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{src}", f"--python_out={out}",
             f"--grpclib_python_out={out}", f"--plugin=protoc-gen-grpclib_python={plugin}",
             *(f"{IMPORT_ROOT}/{name}" for name in SOURCES)],
            check=True)
        return {p.name: p.read_bytes() for p in sorted((out / IMPORT_ROOT).glob("*.py"))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from-etcd", type=pathlib.Path,
                        help="etcd's source tree, to take the .proto files from again")
    args = parser.parse_args(argv)
    if args.from_etcd:
        take_from_etcd(args.from_etcd)
    for name, data in generated().items():
        (HERE / name).write_bytes(data)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
