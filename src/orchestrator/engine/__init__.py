"""The ReAct agent loop, independent of HTTP and storage."""
