"""The long-running worker: retrieves each enabled channel and drains the outbox.
Usable headless (``email-campaigns serve``) and from the GUI; never touches widgets."""
