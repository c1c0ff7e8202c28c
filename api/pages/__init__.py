"""The HTML pages: the explorer and the documentation pages."""
