import CBlueZ
import CMosquitto
import CSQLite
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Each system library links and answers one call.
struct SystemLibraryTests {
    @Test func libmosquittoLinks() {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        let version = mosquitto_lib_version(&major, &minor, &revision)
        #expect(major >= 2, "libmosquitto 2.x is required for MQTT 5 and the v5 callbacks")
        #expect(version == major * 1_000_000 + minor * 1000 + revision)
        #expect(String(cString: mosquitto_strerror(MOSQ_ERR_NO_CONN.rawValue)).isEmpty == false)
    }

    @Test func libsqlite3Links() {
        let version = String(cString: sqlite3_libversion())
        #expect(version.hasPrefix("3."))
        #expect(sqlite3_libversion_number() >= 3_035_000, "RETURNING and strict tables need SQLite 3.35 or later")
        #expect(sqlite3_threadsafe() != 0)
    }

    @Test func libbluetoothLinks() {
        // No adapter on build machines: -1 with errno set is the expected answer; an index is fine too.
        errno = 0
        let route = hci_get_route(nil)
        #expect(route >= 0 || route == -1)
        // The shim's byte-order wrappers: Bluetooth is little-endian on the wire.
        #expect(kk_htobs(0x1234) == UInt16(0x1234).littleEndian)
        #expect(kk_btohl(kk_htobl(0xDEAD_BEEF)) == 0xDEAD_BEEF)
        var address = bdaddr_t()
        #expect(str2ba("C0:FF:EE:00:11:22", &address) == 0)
        #expect(address.b.5 == 0xC0 && address.b.0 == 0x22)
    }
}
