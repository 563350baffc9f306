"""The schemas of alignment.yaml's sections (pydantic models; they import only ``errors``):
``config.py`` assembles them into :class:`~alignment_ci.config.Config`. The packages that use a
section import it from here or from their own alias module (``gating.settings``,
``monitor.settings``, ``rollout.plan``, ``train.specs``)."""
