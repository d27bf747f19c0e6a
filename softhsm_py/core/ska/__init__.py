"""Smart Key Attributes: multi-authorization of key use, enforced by the core (TSB.md 6).

``policy`` (the model, its encodings and the decision), ``tlv`` (the approval token layouts),
``keys`` (the partition's SKA side: block, unblock, modify),
``approvals`` (verification, and the check the key gate makes), ``timestamps`` (the partition's
timestamp key), ``requests`` (requests and approval tasks in the store), ``approvers``
(onboarded approvers), ``clock`` (the core's time).
"""
