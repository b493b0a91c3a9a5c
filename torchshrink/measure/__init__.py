"""Measurement: parameters, bytes, MACs, latency, accuracy, and the survey's alpha, beta and delta.

>>> from torchshrink.models import create_model
>>> from torchshrink.measure import measure, compare, format_table
>>> base = measure(create_model("resnet20"), (3, 32, 32), name="resnet20", repeats=3, batch_size=4)
>>> small = measure(create_model("resnet8"), (3, 32, 32), name="resnet8", repeats=3, batch_size=4)
>>> round(compare(base, small).alpha, 2)
3.49
"""
from .compare import Comparison, compare, compression_rate, space_saving
from .counts import bytes_in_memory, bytes_on_disk, count_nonzero, count_params
from .flops import count_flops, count_macs
from .latency import Interleave, Latency, latency_many, measure_latency, paired_medians, summarize
from .measurement import Measurement, machine_info, measure, measure_many
from .results import bench_meta, result_row, write_results
from .table import fmt_bytes, fmt_count, format_table, markdown_table

__all__ = ["Comparison", "Interleave", "Latency", "Measurement", "bench_meta", "bytes_in_memory", "bytes_on_disk",
           "compare", "compression_rate", "count_flops", "count_macs", "count_nonzero", "count_params", "fmt_bytes", "fmt_count",
           "format_table", "latency_many", "machine_info", "markdown_table", "measure", "measure_latency",
           "measure_many", "paired_medians", "result_row", "space_saving", "summarize", "write_results"]
