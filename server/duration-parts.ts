// A duration split into whole days, hours, minutes and seconds: $SYS's uptime text (EMQX 4's
// "N days, H hours, ...") and tern ctl's short form ("2d 3h 0m 5s") both print from it.
export interface DurationParts {
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

export function durationParts(ms: number): DurationParts {
  let s = Math.floor(ms / 1000);
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  return { days, hours, minutes, seconds: s - minutes * 60 };
}
