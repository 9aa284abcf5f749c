"""A virtual table over millions of examples (Toolong-style).

Nothing here loads all rows: the scroll height comes from a ``count`` and the
visible lines are rendered from an LRU of row windows ("pages"). Each page is
fetched in a thread worker by keyset pagination (the key after the last row of
the previous page), posted back as a message, and only then painted. The page
below the cursor is prefetched so that paging down rarely waits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lightdom_tui.tui.widgets.curation.rows import COLUMNS, RowView, columns_for, row_cells, row_view
from lightdom_tui.tui.widgets.pane import WorkerErrors

PAGE_SIZE = 200
MAX_PAGES = 64  # LRU bound: at most 12,800 rows held


class RowSource(Protocol):
    """What the table pages over: one filter of the examples, via the curation service."""

    def count(self) -> int:
        """Number of rows matching."""

    def page(self, after: Any, limit: int) -> tuple[list[Any], Any]:
        """Up to ``limit`` rows after key ``after`` (None = from the start) and the key after the last."""


@dataclass
class _PageLoaded:
    generation: int
    page: int
    rows: list[RowView]
    next_after: Any


class ExampleTable(WorkerErrors, ScrollView, can_focus=True):
    """Examples matching the current filter; keys move the cursor, pages load in the background."""

    BINDINGS = [
        Binding("down,j", "move(1)", "Next", id="curation.next", show=False),
        Binding("up,k", "move(-1)", "Previous", id="curation.previous", show=False),
        Binding("pagedown,space", "page(1)", "Page down", id="curation.page_down", show=False),
        Binding("pageup", "page(-1)", "Page up", id="curation.page_up", show=False),
        Binding("home,g", "first", "First row", id="curation.first", show=False),
    ]
    COMPONENT_CLASSES = {"example-table--cursor", "example-table--loading"}
    DEFAULT_CSS = """
    ExampleTable { background: $surface; }
    ExampleTable > .example-table--cursor { background: $accent 40%; text-style: bold; }
    ExampleTable:focus > .example-table--cursor { background: $accent; color: $text; }
    ExampleTable > .example-table--loading { color: $text-muted; }
    """

    class Highlighted(Message):
        """The row under the cursor (None while it is loading or the table is empty)."""

        def __init__(self, table: ExampleTable, row: RowView | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ExampleTable.Highlighted)

    class ColumnsChanged(Message):
        """The table shows other columns (the header follows)."""

        def __init__(self, columns: tuple[tuple[str, int], ...]) -> None:
            super().__init__()
            self.columns = columns

    class Counted(Message):
        """How many rows the current filter matches."""

        def __init__(self, generation: int, total: int) -> None:
            super().__init__()
            self.generation = generation
            self.total = total

    class PageLoaded(Message):
        """A window of rows arrived from the worker."""

        def __init__(self, loaded: _PageLoaded) -> None:
            super().__init__()
            self.loaded = loaded

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.source: RowSource | None = None
        self.generation = 0
        self.total: int | None = None
        self.cursor = 0
        self._pages: OrderedDict[int, list[RowView]] = OrderedDict()
        self._anchors: dict[int, Any] = {0: None}
        self._pending: set[int] = set()
        self._wanted: int | None = None
        self._known_rows = 0  # rows known to exist while the count is running
        self._end: int | None = None  # where the keyset walk found the last row
        self._on_loaded: list[Callable[[], None]] = []
        self._style_cache: dict[str, Style] = {}
        self._style_cache_key: tuple | None = None
        self.cursor_moved: Callable[[], None] | None = None  # called in the same tick as a move
        self._follow_id: int | None = None  # the example to put the cursor back on after a reload
        self.columns = COLUMNS  # narrowed to what leaves room for the message (columns_for)

    # ------------------------------------------------------------------ source

    def set_source(self, source: RowSource, *, keep_cursor: bool = False) -> None:
        """Show another filter: drop the cached pages, count and fetch the first page in workers."""
        self.generation += 1
        self.source = source
        self.total = None
        self._pages.clear()
        self._anchors = {0: None}
        self._pending.clear()
        self._wanted = None
        self._known_rows = 0
        self._end = None
        self._follow_id = None
        if not keep_cursor:
            self.cursor = 0
            self.scroll_to(y=0, animate=False, immediate=True)
        self._update_virtual_size()
        self._count(self.generation, source)
        self.request_page(self.cursor // PAGE_SIZE)
        self.refresh()

    def reload(self, follow_id: int | None = None) -> None:
        """Re-read the same filter (after actions), keeping the cursor where it was.

        With ``follow_id`` the cursor then moves to that example if it is still on the
        cursor's page (rows inserted or removed above it shift it by a few rows).
        """
        if self.source is not None:
            self.set_source(self.source, keep_cursor=True)
            self._follow_id = follow_id

    @property
    def rows_pending(self) -> bool:
        """True while the rows on screen are not all loaded yet."""
        first = int(self.scroll_offset.y) // PAGE_SIZE
        last = (int(self.scroll_offset.y) + max(self.size.height, 1) - 1) // PAGE_SIZE
        return any(page not in self._pages for page in range(first, last + 1) if self._page_may_exist(page))

    def _page_may_exist(self, page: int) -> bool:
        limit = self.total if self.total is not None else self._known_rows + PAGE_SIZE
        return page * PAGE_SIZE < limit

    def _count(self, generation: int, source: RowSource) -> None:
        def work() -> None:
            total = source.count()
            self.post_message(self.Counted(generation, total))

        self.run_worker(work, thread=True, group="count", exclusive=True, name="count examples", exit_on_error=False)

    def request_page(self, page: int) -> None:
        """Make sure a page is (being) fetched; walks forward from the last known key for far jumps."""
        if page in self._pages or page in self._pending or self.source is None or not self._page_may_exist(page):
            return
        if page not in self._anchors:
            known = max(p for p in self._anchors if p < page)
            self._wanted = page
            page = known
            if page in self._pages or page in self._pending:
                return
        self._pending.add(page)
        generation, source, after = self.generation, self.source, self._anchors[page]

        def work() -> None:
            rows, next_after = source.page(after, PAGE_SIZE)
            views = [row_view(row) for row in rows]
            self.post_message(self.PageLoaded(_PageLoaded(generation, page, views, next_after)))

        self.run_worker(work, thread=True, group="pages", name=f"load rows {page * PAGE_SIZE}+", exit_on_error=False)

    def on_example_table_counted(self, message: Counted) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        # A sort by quality leaves out unscored rows: the walk's end wins over count(*).
        self.total = message.total if self._end is None else min(message.total, self._end)
        self._update_virtual_size()
        if self.cursor >= max(self.total, 1):
            self._set_cursor(max(self.total - 1, 0))
        self.refresh()
        self._post_highlight()

    def on_example_table_page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        loaded = message.loaded
        if loaded.generation != self.generation:
            return
        self._pending.discard(loaded.page)
        self._pages[loaded.page] = loaded.rows
        self._pages.move_to_end(loaded.page)
        self._evict()
        end = loaded.page * PAGE_SIZE + len(loaded.rows)
        if len(loaded.rows) == PAGE_SIZE and loaded.next_after is not None:
            self._anchors[loaded.page + 1] = loaded.next_after
        else:  # the last page: the exact end, before (or instead of) count(*)
            self._end = end
            self.total = end if self.total is None else min(self.total, end)
        self._known_rows = max(self._known_rows, end)
        self._update_virtual_size()
        if self._wanted is not None and self._wanted > loaded.page:
            wanted, self._wanted = self._wanted, None
            self.request_page(wanted)
        if self._page_visible(loaded.page):  # a prefetched page needs no repaint
            self.refresh()
        if self._follow_id is not None and loaded.page == self.cursor // PAGE_SIZE:
            self._follow(loaded)
        if loaded.page == self.cursor // PAGE_SIZE:
            self._post_highlight()
            self.request_page(loaded.page + 1)  # prefetch the next window
        for callback in self._on_loaded:
            callback()

    def _follow(self, loaded: _PageLoaded) -> None:
        """Put the cursor back on the followed example if this page holds it (else it left the filter)."""
        follow, self._follow_id = self._follow_id, None
        position = next((i for i, row in enumerate(loaded.rows) if row.id == follow), None)
        if position is not None and loaded.page * PAGE_SIZE + position != self.cursor:
            self._set_cursor(loaded.page * PAGE_SIZE + position)

    def _page_visible(self, page: int) -> bool:
        top = int(self.scroll_offset.y)
        bottom = top + max(self.size.height, 1) - 1
        return page * PAGE_SIZE <= bottom and (page + 1) * PAGE_SIZE > top

    def _evict(self) -> None:
        visible = {int(self.scroll_offset.y) // PAGE_SIZE, self.cursor // PAGE_SIZE}
        while len(self._pages) > MAX_PAGES:
            oldest = next(iter(self._pages))
            if oldest in visible:
                self._pages.move_to_end(oldest)
                continue
            del self._pages[oldest]

    def _update_virtual_size(self) -> None:
        rows = self.total if self.total is not None else self._known_rows
        if self.virtual_size.height != rows:  # a new size means a layout pass: only when it changes
            self.virtual_size = Size(1, rows)

    # ------------------------------------------------------------------ rows

    def row_at(self, index: int) -> RowView | None:
        """The loaded row at ``index`` (None when not loaded)."""
        page = self._pages.get(index // PAGE_SIZE)
        if page is None or index % PAGE_SIZE >= len(page):
            return None
        return page[index % PAGE_SIZE]

    @property
    def current(self) -> RowView | None:
        """The row under the cursor."""
        return self.row_at(self.cursor)

    @property
    def rows_in_memory(self) -> int:
        """How many rows the LRU holds now."""
        return sum(len(page) for page in self._pages.values())

    def loaded_rows(self) -> list[RowView]:
        """Rows in memory (for tests and the bench: never all rows)."""
        return [row for page in self._pages.values() for row in page]

    def replace_examples(self, examples: list[Any]) -> None:
        """Show updated examples in place (after approve/reject/edit) without refetching."""
        by_id = {example.id: example for example in examples}
        for page in self._pages.values():
            for position, row in enumerate(page):
                if row.id in by_id:
                    page[position] = row_view(by_id[row.id])
        self.refresh()
        self._post_highlight()

    def _styles(self) -> dict[str, Style]:
        """Rich styles for a frame, looked up once per theme/focus state rather than per line."""
        key = (self.app.theme, self.has_focus)
        if self._style_cache_key != key:
            base = self.rich_style
            cursor = base + self.get_component_rich_style("example-table--cursor")
            self._style_cache = {
                "": base, "cursor": cursor,
                "loading": base + self.get_component_rich_style("example-table--loading"),
                **{f"{name}": base + Style.parse(name) for name in ("yellow", "green", "red")},
                **{f"cursor {name}": cursor + Style.parse(name) for name in ("yellow", "green", "red")},
            }
            self._style_cache_key = key
        return self._style_cache

    def on_focus(self) -> None:
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        """Pick the columns for the new width (a narrow window drops tok, qual, source before the message)."""
        columns = columns_for(event.size.width)
        if columns != self.columns:
            self.columns = columns
            self.post_message(self.ColumnsChanged(columns))
            self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        styles = self._styles()
        rows = self.total if self.total is not None else self._known_rows + PAGE_SIZE
        if index >= rows:
            return Strip.blank(width, styles[""])
        row = self.row_at(index)
        if row is None:
            self.request_page(index // PAGE_SIZE)
            return Strip([Segment("  loading…".ljust(width), styles["loading"])], width)
        prefix = "cursor " if index == self.cursor else ""
        segments = [Segment(text, styles[(prefix + style).strip()]) for text, style in row_cells(row, self.columns)]
        strip = Strip(segments)
        return strip.crop_extend(scroll_x, scroll_x + width, styles[prefix.strip()])

    # ------------------------------------------------------------------ cursor

    def _row_limit(self) -> int:
        return self.total if self.total is not None else self._known_rows

    def _set_cursor(self, index: int) -> None:
        index = max(0, min(index, self._row_limit() - 1))
        self.cursor = index
        height = max(self.size.height, 1)
        top = int(self.scroll_offset.y)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)
        self.refresh()
        if self.cursor_moved is not None:
            self.cursor_moved()
        page = index // PAGE_SIZE
        self.request_page(page)
        if index % PAGE_SIZE > PAGE_SIZE - 2 * height:
            self.request_page(page + 1)
        self._post_highlight()

    def _post_highlight(self) -> None:
        self.post_message(self.Highlighted(self, self.current))

    def action_move(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows."""
        self._set_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move by one screen and scroll with it."""
        height = max(self.size.height - 1, 1)
        self.scroll_to(y=max(0, int(self.scroll_offset.y) + direction * height), animate=False, immediate=True)
        self._set_cursor(self.cursor + direction * height)

    def action_first(self) -> None:
        """Jump to the first row."""
        self._set_cursor(0)

    def on_click(self, event) -> None:  # noqa: ANN001 - textual Click
        self._set_cursor(int(self.scroll_offset.y) + event.y)
