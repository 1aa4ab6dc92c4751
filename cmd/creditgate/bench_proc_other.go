//go:build !linux

package main

import (
	"syscall"
	"time"
)

func childProcAttr() *syscall.SysProcAttr { return nil }

// peakRSS is unknown where there is no /proc.
func peakRSS(int) int64 { return 0 }

// cpuTime is unknown (-1) where there is no /proc.
func cpuTime(int) time.Duration { return -1 }

// selfCPU is left unmeasured away from Linux.
func selfCPU() time.Duration { return -1 }
