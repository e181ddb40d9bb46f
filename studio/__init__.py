"""The Gradio studio for designers and producers, mounted at /studio in the serving app.

Gradio's analytics are off before Gradio is first imported: the studio works offline."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
