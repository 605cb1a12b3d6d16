#!/usr/bin/python3
"""A window that offers one file for drag and drop, as a file manager does: the e2e test drags
from it into an IDE window with the mouse (xdotool), because Xvfb has no file manager.

Usage: drag_source.py FILE   (window title "berth-drag-source", at 1300,100 on the screen)
"""
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

path = sys.argv[1]
uri = "file://" + path

window = Gtk.Window(title="berth-drag-source")
window.set_default_size(240, 120)
window.move(1300, 100)
label = Gtk.Button(label="drag me")
label.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
label.drag_source_add_uri_targets()


def on_get(_widget, _context, data, _info, _time):
    data.set_uris([uri])


label.connect("drag-data-get", on_get)
window.add(label)
window.connect("destroy", Gtk.main_quit)
window.show_all()
Gtk.main()
