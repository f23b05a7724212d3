"""optical-bench: OPTICAL distillation for low-resource CLIR, as an MTEB/BEIR harness plugin."""

__version__ = "0.1.0"

__all__ = ["__version__", "get_benchmark", "get_model", "get_tasks"]


def get_tasks(*args, **kwargs):
    """Select optical-bench's MTEB tasks by name, language or kind (see :func:`optical_bench.tasks.get_tasks`)."""
    from optical_bench.tasks import get_tasks as _get_tasks

    return _get_tasks(*args, **kwargs)


def get_benchmark(*args, **kwargs):
    """An ``mteb.Benchmark`` of optical-bench's tasks for ``mteb.evaluate`` (see :func:`optical_bench.tasks.get_benchmark`)."""
    from optical_bench.tasks import get_benchmark as _get_benchmark

    return _get_benchmark(*args, **kwargs)


def get_model(spec: str, name: str | None = None):
    """A model spec (``multilingual-e5-small-q4``, a model folder, a hub id, ``bm25``, ``fuse:...``)
    as an mteb model with its full ModelMeta, for ``mteb.evaluate`` (see
    :func:`optical_bench.search_models.load_model`)."""
    from optical_bench.search_models import load_model

    return load_model(spec, name=name)
