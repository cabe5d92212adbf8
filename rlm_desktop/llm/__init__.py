"""Model backends behind one interface: llama.cpp, OpenAI-compatible servers, replay."""
