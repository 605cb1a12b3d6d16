#!/usr/bin/python3
# The end-to-end tests' file manager: a GTK window titled "berth-drag-source" at (x, y) that
# offers the file given as its argument by drag and drop (text/uri-list), as a file manager
# does. Usage: drag_source.py FILE X Y
import os
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

path, x, y = os.path.abspath(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
window = Gtk.Window(title="berth-drag-source")
window.set_default_size(200, 200)
window.move(x, y)
box = Gtk.EventBox()
box.add(Gtk.Label(label=os.path.basename(path)))
window.add(box)
box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
targets = Gtk.TargetList.new([])
targets.add_uri_targets(0)
box.drag_source_set_target_list(targets)
box.connect(
    "drag-data-get",
    lambda _w, _c, selection, _i, _t: selection.set_uris([GLib.filename_to_uri(path, None)]),
)
box.connect("drag-end", lambda *_: print("drag-end", flush=True))
window.connect("destroy", Gtk.main_quit)
window.show_all()
Gtk.main()
