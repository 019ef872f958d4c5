"""Data Docs: the gate's GX validation result rendered as one HTML page under
``reports/validation``.

An ephemeral GX context with a filesystem Data Docs site; no GX index page, because GX's index
builder deletes the pages of results it does not hold, and an ephemeral context holds only its own
run: each page is rewritten to open offline with "Home" on the reports index
(``pipelines.validation.offline_docs``), which lists every page.

GX's context and Data Docs SiteBuilder are cached per process and suite kind (``GxState``,
guarded by ``GX_LOCK`` because Prefect runs tasks in worker threads): the SiteBuilder holds the
compiled Jinja templates; each result is removed from the context's store once rendered.
Every text that came from the data is HTML-escaped before GX writes it into the page.
"""

from __future__ import annotations

import html
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.validation.offline_docs import rewrite_page

log = logging.getLogger(__name__)

# One ephemeral GX context per suite kind and process, holding the Data Docs SiteBuilder:
# a new SiteBuilder compiled GX's Jinja templates afresh for every batch.
GX_LOCK = threading.RLock()
_STATES: dict[str, GxState] = {}


class GxState:
    """The cached GX objects of one suite kind. Use only while holding ``GX_LOCK``."""

    def __init__(self, kind: str) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.kind = kind
        # GX logs every temporary docs folder at INFO, and Prefect's logging setup re-enables it
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.sites: dict[str, Any] = {}  # docs directory -> SiteBuilder

    def docs(self, result: Any, docs_dir: Path, batch_id: str) -> str | None:
        """Render this result's validation page only (no index: see the module docstring)."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        run_id = RunIdentifier(run_name=batch_id, run_time=datetime.now(UTC))
        result.meta["run_id"] = run_id
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=self.kind),
            run_id=run_id, batch_identifier=f"creditflow-{self.kind}")
        store = self.ctx.validation_results_store
        store.set(key, result)
        try:
            site = self._site(docs_dir)
            site.build(resource_identifiers=[key], build_index=False)
            url = site.get_resource_url(resource_identifier=key)
            page = Path((url or "").removeprefix("file://"))
            if page.is_file():  # the reports index sits beside the docs directory
                rewrite_page(page, docs_dir.parent / "index.html")
        except Exception as exc:  # a report is a by-product: it never fails the gate
            log.warning("Data Docs not written for %s: %s", batch_id, exc)
            return None
        finally:  # the cached context keeps no result
            store.remove_key(key)
        return (url or "").removeprefix("file://") or None

    def _site(self, docs_dir: Path) -> Any:
        """One SiteBuilder per directory: it holds the Jinja environment, so GX's templates are
        compiled once per process instead of once per batch."""
        name = str(docs_dir)
        if name not in self.sites:
            if len(self.sites) >= 8:  # tests and CLI runs use many homes: keep a few
                self.sites.pop(next(iter(self.sites)))
            config = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
                      "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                        "base_directory": name},
                      "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
            self.sites[name] = self.ctx._init_site_builder_for_data_docs_site_creation(
                site_name="creditflow", site_config=config)
        return self.sites[name]


def gx_state(kind: str) -> GxState:
    with GX_LOCK:
        if kind not in _STATES:
            _STATES[kind] = GxState(kind)
        return _STATES[kind]


def html_safe(result: Any) -> Any:
    """A copy of a GX result with every text that came from the data (sample values, observed
    values, exception messages) HTML-escaped: GX writes them into the Data Docs page as markup,
    so a tape's ``<script>`` ran in the reader's browser. The expectation's own arguments come
    from the suite file, not from the data, and are left as they are."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

    return ExpectationValidationResult(
        success=result.success, expectation_config=result.expectation_config,
        result=_escaped(result.result), meta=result.meta,
        exception_info=_escaped(result.exception_info))


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value
