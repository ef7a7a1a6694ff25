"""The lab's configuration: the profile and its schema checks, and what it renders to
(Helm values, engine and router command lines, the model an engine serves)."""
