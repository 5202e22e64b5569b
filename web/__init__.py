"""Browser assets the API serves: the embeddable web-chat widget (web/widget/, plain JS and CSS,
no build step). A package so that `pip install .` ships the files beside the code."""

from pathlib import Path

WIDGET_DIR = Path(__file__).parent / "widget"
