"""Flight planning, the Tello mission executor and the Tello simulator."""
