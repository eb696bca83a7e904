#ifndef KAKEHASHI_CMOSQUITTO_SHIM_H
#define KAKEHASHI_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
