"""The Compose platform: the stack as containers on one Docker host, from images the lab builds."""
