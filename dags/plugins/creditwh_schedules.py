"""Timetables whose schedule reads in the credit office's time zone in the Airflow UI.

Airflow's cron timetables already run in the zone they are given (every schedule of the project is a cron in
Asia/Shanghai), but the UI shows their cron bare ("0 */6 * * *") beside times in the browser's zone. These
subclasses only add the zone to that summary ("0 */6 * * * (Asia/Shanghai)"); scheduling is Airflow's own.
Airflow reads custom timetables from plugins: `AIRFLOW__CORE__PLUGINS_FOLDER` points at this folder wherever
Airflow runs (make run, make airflow, the compose services, the DAG tests), which also puts it on sys.path for
the DAG files.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.trigger import CronTriggerTimetable, MultipleCronTriggerTimetable


class LocalCronTimetable(CronTriggerTimetable):
    """One cron, its zone in the summary."""

    @property
    def summary(self) -> str:
        return f"{self._expression} ({self._timezone.name})"


class LocalCronsTimetable(MultipleCronTriggerTimetable):
    """Several crons (a department whose feeds run at different times), their zone in the summary."""

    @property
    def summary(self) -> str:
        return f"{', '.join(t._expression for t in self._timetables)} ({self._timetables[0]._timezone.name})"


class CreditwhSchedules(AirflowPlugin):
    name = "creditwh_schedules"
    timetables = [LocalCronTimetable, LocalCronsTimetable]
