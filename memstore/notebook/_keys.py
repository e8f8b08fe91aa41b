"""Keyboard support for the browser: a small anywidget that forwards keys from the row list.

Plain ipywidgets report a new selection, never a key, so a ``Select`` cannot tell an
arrow key from a click. This widget has no view of its own: its front-end code listens
for keydown events on the list of rows of the browser it sits in and sends the browser
the keys it handles (arrows, Home/End, Enter, Delete/Backspace, Escape), stopping them
there so JupyterLab does not also act on them (Enter would put the cell into edit mode).
"""

from __future__ import annotations

from typing import Any

import anywidget

__all__ = ["KEYS", "KeyBridge"]

KEYS = {
    "ArrowDown": "down",
    "ArrowUp": "up",
    "Home": "home",
    "End": "end",
    "Enter": "enter",
    "Delete": "delete",
    "Backspace": "delete",
    "Escape": "escape",
}
"""Browser key name → the name sent to the kernel."""

_ESM = """
const KEYS = %s;

export default {
  render({ model, el }) {
    // The view may not be in the page yet when it renders: find its browser per event.
    // Listening on the document in the capture phase runs before JupyterLab's shortcuts.
    const onKey = (event) => {
      const target = event.target;
      if (!(target instanceof HTMLSelectElement) || !target.closest(".memstore-rows")) return;
      const root = target.closest(".memstore-browser");
      if (!root || !root.contains(el)) return;
      const name = KEYS[event.key];
      if (!name || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      event.stopPropagation();
      model.send({ key: name });
    };
    document.addEventListener("keydown", onKey, true);
    return () => document.removeEventListener("keydown", onKey, true);
  },
};
"""


class KeyBridge(anywidget.AnyWidget):
    """Sends ``{"key": name}`` messages for the keys of :data:`KEYS` pressed in the rows."""

    _esm = _ESM % ("{" + ", ".join(f'"{key}": "{name}"' for key, name in KEYS.items()) + "}")

    def __init__(self, **kwargs: Any) -> None:
        """Create the bridge; add it to the browser's children and listen with ``on_msg``."""
        super().__init__(**kwargs)
        self.add_class("memstore-keys")
