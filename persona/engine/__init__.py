"""What every front end runs on, owned by none of them: settings, the runtime (persona, dialogue
backend, memory, director), the chat service with its one turn routine, the job runner and the
fans' artifacts. `serving/` (WebSocket, /v1, CLI) and `studio/` (Gradio) both import this
package and never each other."""
