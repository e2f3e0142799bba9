"""Turn what the Slack stand-in saw into a readable transcript: terminal text and a Slack-looking HTML page.

```python
transcript = Transcript.from_stand_in(slack, channel="#migrations")
print(render_text(transcript, color=use_color(sys.stdout)))
Path("demo-transcript.html").write_text(render_html(transcript), encoding="utf-8")
```
"""

from __future__ import annotations

from sandbox.demo.directory import Directory, Person
from sandbox.demo.html_transcript import render_html
from sandbox.demo.model import Message, Transcript, Version, as_transcript
from sandbox.demo.text_transcript import digest, render_text, use_color

__all__ = [
    "Directory",
    "Message",
    "Person",
    "Transcript",
    "Version",
    "as_transcript",
    "digest",
    "render_html",
    "render_text",
    "use_color",
]
