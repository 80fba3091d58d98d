"""Files, written safely: one module per job.

- ``files``: atomic writes, output folders swapped in whole, deferred signals, writer locks;
- ``h5``: hloc-format HDF5 features and matches files, and pairs files;
- ``provenance``: the settings a file was made with, resuming, per-pair digests, shards.

Every name is importable from ``relf_hloc.io`` directly.
"""

from .files import (  # noqa: F401
                    FormatError,
                    OutputFolder,
                    atomic_write,
                    check_writable,
                    deferred_signals,
                    file_digest,
                    read_json,
                    read_lines,
                    read_text,
                    refuse_if_written,
                    write_json,
                    write_text,
                    writer_of,
)
from .h5 import (  # noqa: F401
                    COMPLETE,
                    KEYPOINT_DTYPES,
                    PROVENANCE,
                    check_features,
                    check_image_sizes,
                    check_names,
                    complete_names,
                    find_pair,
                    groups,
                    has_pair,
                    image_digest,
                    list_names,
                    open_h5,
                    pair_key,
                    read_datasets,
                    read_descriptors,
                    read_features,
                    read_matches,
                    read_pairs,
                    read_provenance,
                    write_features,
                    write_matches,
                    write_pairs,
)
from .provenance import (  # noqa: F401
                    claim,
                    features_digest,
                    pair_digests,
                    parse_shard,
                    read_shard_info,
                    settings_text,
                    shard_slice,
                    write_shard_info,
                    writing,
)
