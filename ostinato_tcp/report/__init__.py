"""Reports: they only read results (terminal summary, JSON, JUnit XML, CSV, plots)."""

from ostinato_tcp.report._json import result_to_dict, write_json
from ostinato_tcp.report._summary import summary_lines

__all__ = ["result_to_dict", "summary_lines", "write_json"]
