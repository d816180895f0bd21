"""One descriptor pool for server reflection that holds files from several pools.

The V2 messages live in a pool of their own (see ``scripts/generate_v2_wire.py``), the other services in
protobuf's default pool; reflection answers from one pool, so it gets a copy of every served file and
the files they import.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor


def merged_pool(files: list[FileDescriptor]) -> descriptor_pool.DescriptorPool:
    """A new pool with ``files`` and their dependencies, each added once, dependencies first."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
        added.add(file.name)

    for file in files:
        add(file)
    return pool
