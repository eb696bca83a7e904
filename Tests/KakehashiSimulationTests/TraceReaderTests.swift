import KakehashiModel
import KakehashiSimulation
import KakehashiTestSupport
import KakehashiTraces
import Testing

/// The USGS and Melbourne readers on the recorded excerpts in simulators/traces.
struct TraceReaderTests {
    @Test func theUSGSExcerptGivesEveryGageHeightOfJanuary() throws {
        let text = try RepositoryPaths.text(RepositoryPaths.trace("usgs/03287500-2014-01.rdb"))
        let file = try USGSInstantaneousValues(text: text, file: "03287500-2014-01.rdb", parameter: .gageHeight)
        #expect(file.readings.count == 31 * 96)
        #expect(file.skipped.isEmpty)
        #expect(file.siteNames["03287500"] == "KENTUCKY RIVER AT LOCK 4 AT FRANKFORT, KY")
        // "USGS 03287500 2014-01-01 00:00 EST … 11.76 P": EST is UTC−5.
        let first = try #require(file.readings.first)
        #expect(first.site == "03287500" && first.value == 11.76 && first.qualifier == "P")
        #expect(first.observedAt == (try Timestamp(iso8601: "2014-01-01T05:00:00Z")))
        let readings = TraceReadings.usgs(file)
        #expect(readings.first?.value == .level(metres: 3.584))  // 11.76 ft × 0.3048, to the millimetre
        let times = readings.map(\.time)
        #expect(times == times.sorted() && Set(times).count == times.count)
    }

    @Test func aUSGSFileWithoutTheParameterSaysWhichItHas() {
        let text =
            "# c\nagency_cd\tsite_no\tdatetime\ttz_cd\t01_00010\t01_00010_cd\n5s\t15s\t20d\t6s\t14n\t10s\nUSGS\t1\t2014-01-01 00:00\tEST\t7.1\tP\n"
        do {
            _ = try USGSInstantaneousValues(text: text, file: "x.rdb", parameter: .gageHeight)
            Issue.record("accepted a file without gage height")
        } catch {
            #expect(error.description.contains("no gage height (ft) column") && error.description.contains("01_00010"))
        }
    }

    @Test func usgsMarkersAndUnknownZonesAreSkippedWithTheirReason() throws {
        let text = """
            agency_cd\tsite_no\tdatetime\ttz_cd\t07_00065\t07_00065_cd
            5s\t15s\t20d\t6s\t14n\t10s
            USGS\t1\t2014-01-01 00:00\tEST\t11.76\tP
            USGS\t1\t2014-01-01 00:15\tEST\tIce\tP
            USGS\t1\t2014-01-01 00:30\tXYZ\t11.70\tP
            USGS\t1\t2014-01-01 00:45\tEST\t\tP
            """
        let file = try USGSInstantaneousValues(text: text, file: "x.rdb", parameter: .gageHeight)
        #expect(file.readings.map(\.value) == [11.76])
        #expect(file.skipped.map(\.line) == [4, 5, 6])
        #expect(file.skipped[0].reason.contains("Ice") && file.skipped[1].reason.contains("unknown zone"))
    }

    @Test func melbourneColumnsAreMatchedToTheirSensorsAndTheTotalsRowIsNoReading() throws {
        let counts = try PedestrianCounts(
            text: RepositoryPaths.text(RepositoryPaths.trace("pedestrian-melbourne/2010-01-01_03.csv")),
            file: "counts",
            utcOffsetSeconds: 11 * 3600
        )
        let locations = try PedestrianSensorLocations(
            text: RepositoryPaths.text(RepositoryPaths.trace("pedestrian-melbourne/sensor-locations.csv")),
            file: "locations"
        )
        #expect(counts.sensors.count == 18 && counts.readings.count == 18 * 72 && counts.rejected.isEmpty)
        let (readings, sensors, unmatched) = TraceReadings.pedestrians(counts, locations: locations)
        #expect(unmatched.isEmpty && sensors.count == 18 && readings.count == 18 * 72)
        // "Flinders St Station Underpass" is spelled "Flinders Street Station Underpass" in the locations file.
        #expect(locations.sensor(described: "Flinders St Station Underpass")?.id == "6")
        // State Library, hour 0 of 1 January 2010 (AEDT, UTC+11): 1261 people, reported at 01:00 local.
        let first = try #require(readings.first)
        #expect(first.sensor == "15" && first.value == .count(1261))
        #expect(first.time == (try Timestamp(iso8601: "2010-01-01T01:00:00+11:00")))

        // The published month file ends with blank rows and a totals row without a date.
        let month = "Date,Hour,A\n1-Jan-10,0,5\n,,\n,,407403\n2-Jan-10,25,1\n3-Jan-10,1,x\n"
        let parsed = try PedestrianCounts(text: month, file: "m", utcOffsetSeconds: 0)
        #expect(parsed.readings.map(\.count) == [5])
        #expect(parsed.rejected.map(\.line) == [5, 6])
    }

    @Test func aMovedNetworkKeepsItsLayoutAroundTheNewCentre() throws {
        let locations = try PedestrianSensorLocations(
            text: RepositoryPaths.text(RepositoryPaths.trace("pedestrian-melbourne/sensor-locations.csv")),
            file: "locations"
        )
        let points = locations.sensors.map(\.location)
        let tokushima = try GeoPoint(latitude: 34.0745, longitude: 134.5513)
        let moved = try Relocation.move(points, centerTo: tokushima)
        #expect(moved.count == points.count)
        let mean = (moved.map(\.latitude).reduce(0, +) / Double(moved.count), moved.map(\.longitude).reduce(0, +) / Double(moved.count))
        #expect(abs(mean.0 - tokushima.latitude) < 1e-9 && abs(mean.1 - tokushima.longitude) < 1e-9)
        for index in 1..<points.count {
            #expect(abs((moved[index].latitude - moved[0].latitude) - (points[index].latitude - points[0].latitude)) < 1e-9)
            #expect(abs((moved[index].longitude - moved[0].longitude) - (points[index].longitude - points[0].longitude)) < 1e-9)
        }
        #expect(try Relocation.move([], centerTo: tokushima).isEmpty)
    }
}
