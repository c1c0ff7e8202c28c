"""One module per resource: its Blueprint and views, a few lines each, over the shared read and
write helpers."""
