"""Flight planning, the Tello mission executor and the Tello simulator."""

from drone.plan import PROFILES, PlanError, load_plan, plan_survey, write_plan

__all__ = ["PROFILES", "PlanError", "load_plan", "plan_survey", "write_plan"]
