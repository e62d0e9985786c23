"""Local simulators of the system's neighbours: real servers on loopback, fed by the data generator."""

from simulators.departments import DepartmentSimulator, Faults

__all__ = ["DepartmentSimulator", "Faults"]
