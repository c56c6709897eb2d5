"""Multi-objective neural architecture search with Ax, BoTorch and TorchX.

    import nas

    search = nas.Search.from_config("search.toml", trials=8, fix={"epochs": 1})
    result = search.run()
    result.pareto

nas/api.py is the API (`Search`, `SearchResult`, `load`); run_nas.py is its command line.
Every error a user can fix is a `NasError`.
"""

from nas.api import Search, SearchFailed, SearchInterrupted, SearchOptions, SearchResult, load
from nas.config import ConfigError, SearchConfig, load_config
from nas.errors import NasError
from nas.jobs.cluster import OptionError

__all__ = ["ConfigError", "NasError", "OptionError", "Search", "SearchConfig", "SearchFailed",
           "SearchInterrupted", "SearchOptions", "SearchResult", "load", "load_config"]
